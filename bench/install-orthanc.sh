#!/bin/sh
# Install Debian's orthanc package for the benchmark comparison, without
# starting its system service: the benchmark starts its own Orthanc on free
# loopback ports. A temporary policy-rc.d (exit status 101, "action
# forbidden") is the Debian way to keep maintainer scripts from starting it.
set -eu

if [ -x /usr/sbin/Orthanc ]; then
    exit 0
fi

policy=/usr/sbin/policy-rc.d
created=""
if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' > "$policy"
    chmod +x "$policy"
    created=1
fi
trap 'if [ -n "$created" ]; then rm -f "$policy"; fi' EXIT

apt-get update
DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends orthanc

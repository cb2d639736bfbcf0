"""The index: the SQL database of resources, attachments, metadata and changes.

This package is the only one that imports SQLAlchemy. Its functions take a
session as their first argument and never commit: the caller owns the
transaction, one per operation.
"""

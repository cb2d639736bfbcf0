"""Pixel data: decoding frames, rendering them and encoding images."""

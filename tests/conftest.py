"""Shared pytest set-up: tests run on the CPU with float32 defaults unless a test enables x64 itself."""

import os

os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

"""Offline training pipeline of dtd_ik (importable as ``dtd_ik.training``)."""

"""PyTorch helpers: custom CUDA ops built on demand, each with a reference implementation."""

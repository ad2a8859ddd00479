"""Custom ops. Every op has ``impl='auto'|'cuda'|'ref'``; 'auto' takes CUDA when it builds and runs."""

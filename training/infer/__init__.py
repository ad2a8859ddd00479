"""Stage 4, infer: a snapshot and condition images in; views, turntables and meshes out. load.py builds
the generator with the render settings passed in, cameras.py names camera sets, render.py is the one
render path (generate, reconstruct, measure and the training sample grids), mesh.py extracts a
surface, export.py writes the files."""

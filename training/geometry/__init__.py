"""Stage 0, geometry: the one world frame (y up, the character faces +z) and cameras as EG3D 25-float
labels (camera.py). Takes azimuth, elevation and box size; gives labels, rays and their mirrors. Used by
data, model and inference alike."""

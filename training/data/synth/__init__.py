"""Making data roots in the release layout: procedural characters (characters.py, procedural.py), the
glTF/VRM loader (gltf.py) and character-file runs (from_files.py), the headless GL renderer
(gl_render.py), the layout writer (layout_writer.py) and array-job plumbing (jobs.py)."""

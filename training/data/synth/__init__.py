"""Making data roots in the release layout: procedural characters (characters.py assembles traits.py's
choices from skeleton.py, body.py, clothes.py, hair.py and accessories.py, built of primitives.py's
shapes; procedural.py runs them), the glTF/VRM loader (gltf.py; the file's container and binary data in
gltf_document.py, its EXT_meshopt_compression decoder in meshopt.py), character-file runs
(from_files.py), the open real characters (open_set.py), the headless GL renderer (gl_render.py), the
layout writer (layout_writer.py) and array-job plumbing (jobs.py)."""

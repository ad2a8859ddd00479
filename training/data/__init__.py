"""Stage 1, data: the NOVA-Human layout on disk (layout.py), its dataset (dataset.py: condition images,
targets and cameras per character), the checks that name a bad file (checks.py), the framing of
user drawings (preprocess.py) and the GLB container (glb.py). synth/ makes data roots. Imports only
geometry."""

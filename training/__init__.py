"""The NOVA-3D library, in pipeline stages (docs/ARCHITECTURE.md): geometry -> data -> model -> train;
infer -> eval; metrics beside them. The command-line scripts live in _scripts/ and _train/."""

"""A reconstruction-like avatar of one synthetic character, made once per session: the field of
character_field.py, its marching-cubes mesh, the simplified + textured mesh and the rigged avatar."""
from types import SimpleNamespace

import pytest

BOX = 2.1
# T-pose (as most real model sheets), trousers, short hair, no hat: front and back details (a ribbon, a
# waist bow). Not "0" any more: under the generator's new traits "0" wears animal ears, thin enough that
# the 96^3 marching cubes leaves them floating above the hair, so the mesh itself is 3 pieces (the
# rest-pose silhouette's pieces == 1 check in test_avatar_web.py is about the pose tearing the mesh).
CHARACTER = "162"


@pytest.fixture(scope="session")
def synthetic_avatar():
    from character_field import character_field
    from training.infer import mesh as M, texture as T
    from training.infer.avatar import make_avatar

    field, synth = character_field(CHARACTER, BOX)
    mesh, _ = M.field_mesh(field, BOX, 96, neural_resolution=64)
    simple, textured, source = T.textured_mesh(field, mesh, faces=8000, size=512)
    return SimpleNamespace(char_id=CHARACTER, field=field, synth=synth, mesh=mesh, simple=simple, textured=textured,
                           source=source, avatar=make_avatar(simple, textured, source))

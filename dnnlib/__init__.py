"""Small utilities shared by training code and scripts (EG3D-compatible names)."""
from dnnlib.util import EasyDict, construct_class_by_name, dataclass_from_dict, get_obj_by_name

__all__ = ["EasyDict", "construct_class_by_name", "dataclass_from_dict", "get_obj_by_name"]

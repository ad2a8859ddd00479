"""Small utilities shared by training code and scripts (EG3D-compatible names)."""
from dnnlib.util import (EasyDict, call_func_by_name, construct_class_by_name, dataclass_from_dict, format_time,
                         get_obj_by_name)

__all__ = ["EasyDict", "call_func_by_name", "construct_class_by_name", "dataclass_from_dict", "format_time",
           "get_obj_by_name"]

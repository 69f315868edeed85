import os


def getDeviceCount() -> int:  # noqa: N802 (cupy's name)
    visible = os.environ.get("CUDA_VISIBLE_DEVICES", "0")
    return len([d for d in visible.split(",") if d.strip()])

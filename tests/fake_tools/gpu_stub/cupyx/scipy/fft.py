from scipy.fft import irfftn, rfftn  # noqa: F401

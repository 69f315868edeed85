"""What the microscope recorded, learned from the data: listing the frames and mdocs (listing),
reading a SerialEM/Tomo5 .mdoc (mdoc), inferring each tilt series' acquisition and checking that
they agree (infer), a cache of parsed mdocs keyed by their stat (cache), and the scan of a
pipeline's data that ties them together (scan)."""

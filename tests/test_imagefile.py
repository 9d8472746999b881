"Appendix A2 (gpuvision_nb.imagefile): open_rgb, to_rgb, the awkward-file zoo and walk_images, beside test_data.py's uses of them."
import os
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from gpuvision_nb import imagefile
from gpuvision_nb.imagefile import (BAD_CASES, IMAGE_EXTENSIONS, UNREADABLE, BadImageError, DatasetError, open_rgb,
                                    reference_image, to_rgb, walk_images, write_bad_images)


def test_bad_image_error_is_a_dataset_error_and_a_value_error():
    assert issubclass(BadImageError, DatasetError) and issubclass(DatasetError, ValueError)

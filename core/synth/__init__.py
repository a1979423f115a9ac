"""The deterministic synthetic genre set: GTZAN-like clips made from NumPy/SciPy alone (no samples, no network).

- :func:`render_clip` renders one clip of a genre from a seed (same arguments, same samples).
- :func:`generate_dataset` writes a GTZAN tree plus ``metadata.csv`` (resumable, parallel, same bytes for
  any worker count).
"""

from core.synth.dataset import artist_name, generate_dataset, restore_clip, track_title
from core.synth.render import ARTISTS_PER_GENRE, render_clip

__all__ = ["ARTISTS_PER_GENRE", "artist_name", "generate_dataset", "render_clip", "restore_clip", "track_title"]

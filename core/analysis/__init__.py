"""Analysis of songs: prediction, evaluation metrics, saliency."""

"""Audio in: decoding with guards, segments, the mel front-end, handcrafted features."""

"""Where and why a model fails: pure functions over stored predictions and sample properties
(slices, weak segments, corruption robustness, duplicate images, guards against mis-evaluation)."""

"""Model kinds: the registry, the networks, the KNN and transfer heads."""

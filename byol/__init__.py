"""BYOL for audio (Niizumi et al., "BYOL for Audio", IJCNN 2021)."""

"""Models and how they learn: the networks (models), the one training loop with pretraining
and fine-tuning (training), the semi-supervised rounds (semisup), the device and thread
set-up (device), scoring a classifier (evaluate) and imports done ahead of need (warm).
"""

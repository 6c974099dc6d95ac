"""Images and labels: MNIST's files (idx, mnist), the split and label budget (mnist),
preprocessing of any image to MNIST's form (preprocess), augmentation and batches for
training, simulated canvas drawings (drawings) and the user's own drawings (personal).

The lowest engine layer above the foundations: nothing here imports models, training or
checkpoints.
"""

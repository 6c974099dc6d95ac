"""The pretraining study: when does autoencoder pretraining beat training from scratch?

For every encoder family, label budget and seed, the same classifier is trained three ways
(WAYS): from scratch, on the frozen pretrained encoder, and fine-tuning the pretrained
encoder; each is scored on the MNIST test set. Fair by construction:

* one pretraining run per family (on the training split's images, labels unused), shared
  by every cell of that family;
* per (family, budget, seed) the class-balanced labelled subset is drawn ONCE and handed
  to all three ways (each cell records the SHA-256 of the indices it trained on);
* the three ways share head, optimiser (Adam, one-cycle schedule), learning rate, batch
  size, number of steps, augmentation, training seed (batch order, augmentation draws)
  and the early-stopping rule.

Step-based schedule (why not epochs): with 100 labels an epoch is a single batch, so an
epoch-based schedule would validate after every step for small budgets and only every 430
steps with all labels. Here every cell trains for `steps_for(n_labels)` optimiser steps,
drawing batches from an endless stream of reshuffled passes over its labelled images, and
validates every `val_every` steps on a fixed subset of the validation split (the same
images for every cell). `engine.learning.training.finetune` does the training, in its round mode
(`round_steps=val_every`): one of its "epochs" is one validation round, so early stopping
counts rounds (`patience` rounds without a better validation loss) and the weights of the
best round are restored. With `patience` 0 (the default) every step is trained and the
last weights are kept, where the one-cycle schedule ends.
Cells run side by side in worker processes, one per core (`pool`).
Convergence is the number of steps after which the validation accuracy first reaches
`target` (None when it never does within the cell's steps).

Results are written while the study runs (study.json + cells.csv after every cell), so a
stopped or crashed study keeps its finished cells; at the end (or on stop) the summary
table (table.csv, table.json), the plot (accuracy_vs_labels.png) and report.html follow.
`load_study(folder)` reopens a saved study. Running the same study into the same folder
again resumes it: the finished cells are kept, the pretrained encoders saved there
(encoder-<family>.pt) are reused, and only the missing cells are trained (`resume`).

This package imports torch and matplotlib only inside the functions that train or draw:
`evenodd --help` and the GUI can import it (e.g. for load_study/summaries) cheaply.

Layout: settings (constants, StudySettings, Cell, StudyResult), stats (summaries, gains,
generated sentences), report (result files, plots, report.html, load_study), run
(train_cell, run_study), resume (what a run into a folder holding a study may keep),
pool (cells in worker processes) and cli (`evenodd compare`,
used by engine.cli.commands). Import a name from the module that holds it (nothing is
re-exported here); patch train_cell in engine.study.run, where run_study looks it up.
"""

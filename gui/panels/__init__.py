"""The tabs: one module per tab, plus training_panel, the base of the Pretrain, Fine-tune
and Compare tabs. A tab never imports another tab or the main window."""

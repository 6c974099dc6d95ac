"""The tabs: one module per tab, plus training_panel, the base of the Pretrain and
Fine-tune tabs. A tab never imports another tab or the main window."""

"""Widgets the tabs share: the drawing canvas, plots drawn off the GUI thread, the user's
drawings gallery and the label-budget box."""

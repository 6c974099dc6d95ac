"""What the app holds and how jobs run, under the widgets: the Qt-free model (model), its Qt
signals (signals), the background job runner (worker), remembered settings (settings) and
error classification and dialogs (errors)."""

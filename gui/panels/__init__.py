"""Side panels of the main window: records, model, attack, band, dataset actions."""

"""Specimen classify service: tumor/healthy CNN, plankton random forest, MRI scan records."""

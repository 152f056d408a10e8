"""The domain: rendering templates, planning and applying an instance's children."""

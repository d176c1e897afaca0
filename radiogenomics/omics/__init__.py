"""omics package."""

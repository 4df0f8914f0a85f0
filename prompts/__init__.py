"""The built-in recipes, one Markdown file each, shipped inside the installed package."""

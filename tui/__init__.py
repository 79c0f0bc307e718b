"""tokenlat-tui's Textual app and its headless CLI. The only package that may import textual."""

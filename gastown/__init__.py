"""gastown: a git-native team of coding agents, local and cloud."""

__version__ = "0.1.0"

# Makes `import beatscore` work when pytest runs from the project root.

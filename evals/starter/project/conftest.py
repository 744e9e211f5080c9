# Makes `import textkit` work when pytest runs from the project root.

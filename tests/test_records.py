"Records and report input of the wrong type or shape (issue 21.5): one clear line each, the rest of the table shown."

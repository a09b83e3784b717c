"""One blueprint per audience: public, auth, applicant, instruction, committee, finance, admin, api."""

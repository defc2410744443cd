"""Response bodies of the admin API: what each endpoint answers, field by field.

Each model holds exactly the fields its endpoint returns (an `Answer` refuses any other, so a
field a service adds without its model fails the tests instead of vanishing from the answer),
and the routes answer only the fields the service gave (`exclude_unset`), so a field that is
sometimes absent stays absent rather than turning into a null.
"""

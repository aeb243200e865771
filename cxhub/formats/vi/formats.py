# Django's own Vietnamese formats leave NUMBER_GROUPING at 0, so grouped numbers come out as
# 1234567,5; Vietnamese groups thousands with a dot: 1.234.567,5. The rest is Django's.
NUMBER_GROUPING = 3

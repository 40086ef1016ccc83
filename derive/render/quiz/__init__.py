"""The learning systems' quizzes: Moodle, Canvas (QTI) and PrairieLearn, and the given values they show."""

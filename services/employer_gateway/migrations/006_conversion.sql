-- Conversions (issue 15, slice 2): a placed intern, micro-intern or apprentice converted to a
-- full-time or part-time hire at the same employer. An employment keeps the job's terms as
-- they are now (the placement's, then the conversion's; the JSON of an offer's `terms`) and
-- the day the conversion took effect. Employments stored before have no terms (NULL): they
-- cannot be converted, since the kind of job they were is not known here.
ALTER TABLE employments ADD COLUMN terms jsonb, ADD COLUMN converted_on date;

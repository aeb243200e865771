"""On PostgreSQL, the database itself refuses to change what a published version asks.

Responses point at the version they answered; if its questions could change, history would
be rewritten. The admin and the services never update a version, and this trigger makes
sure nothing else does either (a shell, a script, a future bug). Clearing `published_by`
when a user is deleted stays possible.
"""

from django.db import migrations

# %% because the statement goes through the driver's parameter formatting.
CREATE = """
CREATE OR REPLACE FUNCTION surveys_surveyversion_frozen() RETURNS trigger AS $$
BEGIN
    IF NEW.questions IS DISTINCT FROM OLD.questions
       OR NEW.languages IS DISTINCT FROM OLD.languages
       OR NEW.number IS DISTINCT FROM OLD.number
       OR NEW.survey_id IS DISTINCT FROM OLD.survey_id THEN
        RAISE EXCEPTION 'survey version %% is published and cannot change; publish a new version', OLD.id
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER surveys_surveyversion_frozen
    BEFORE UPDATE ON surveys_surveyversion
    FOR EACH ROW EXECUTE FUNCTION surveys_surveyversion_frozen();
"""

DROP = """
DROP TRIGGER IF EXISTS surveys_surveyversion_frozen ON surveys_surveyversion;
DROP FUNCTION IF EXISTS surveys_surveyversion_frozen();
"""


def on_postgresql(sql):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(sql)

    return run


class Migration(migrations.Migration):
    dependencies = [("surveys", "0001_initial")]

    operations = [migrations.RunPython(on_postgresql(CREATE), on_postgresql(DROP))]

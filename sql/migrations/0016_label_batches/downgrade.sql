-- Revision 0016 undone: scoring.write_labels goes (labels it wrote stay, as written).

drop function scoring.write_labels(bigint[], boolean[], timestamptz[], text[], text);
comment on table scoring.labels is
    'The one current label per transaction; written only through scoring.predictions '
    '(scoring.write_label), history in scoring.label_events.';

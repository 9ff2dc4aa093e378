-- Current version of each named stream (NULL when it has no events). The
-- correlated LIMIT 1 walks the (stream_id, stream_version) index backwards,
-- so a stream with millions of events costs one index probe.
SELECT s.stream_id,
       (SELECT e.stream_version
          FROM event e
         WHERE e.stream_id = s.stream_id
         ORDER BY e.stream_version DESC
         LIMIT 1) AS stream_version
  FROM unnest($1::text[]) AS s(stream_id)

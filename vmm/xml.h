/* xml.h: the few ways airlock writes and reads XML (libxml2's tree API; pure). */
#pragma once

#include <glib.h>
#include <libxml/tree.h>

/*
 * @text as XML 1.0 character data: invalid UTF-8 and characters XML forbids
 * (control characters other than tab, LF, CR) become U+FFFD, so whatever a
 * user passes cannot produce a document libvirt (or anyone) refuses. libxml2
 * escapes the rest. Caller frees.
 */
char *vmm_xml_safe_text(const char *text);

/*
 * The string value of XPath @expr (e.g. "string(/domain/name)") in the XML
 * document @xml, such as libvirt returns; NULL when @xml is NULL or not
 * XML, or the value is empty. Caller frees.
 */
char *vmm_xml_xpath_string(const char *xml, const char *expr);

/* A child element @name of @parent with @text (made XML-safe; NULL for none). */
xmlNodePtr vmm_xml_child(xmlNodePtr parent, const char *name, const char *text);

/* Sets attribute @name of @node to @value (made XML-safe); returns @node, to chain. */
xmlNodePtr vmm_xml_prop(xmlNodePtr node, const char *name, const char *value);

/* @doc as indented text. Caller frees. */
char *vmm_xml_doc_to_string(xmlDocPtr doc);

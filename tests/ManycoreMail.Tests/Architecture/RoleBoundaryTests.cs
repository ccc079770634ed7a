using ManycoreMail.Roles.Sender;
using Mono.Cecil;
using Mono.Cecil.Cil;

namespace ManycoreMail.Tests.Architecture;

/// <summary>A role (src/ManycoreMail/Roles/&lt;Role&gt;, namespace ManycoreMail.Roles.&lt;Role&gt;) never uses another
/// role's types: shared logic lives in a library or a host folder. Read from the built assembly, so that a fully
/// qualified name, a type argument, a lambda's closure or a call inside a method body counts, not only a using.</summary>
public sealed class RoleBoundaryTests
{
    private const string RolesPrefix = "ManycoreMail.Roles.";

    private static readonly Lazy<IReadOnlyList<RoleReference>> References = new(ReadReferences);

    [Fact]
    public void No_role_references_another_roles_types()
    {
        var crossings = References.Value.Where(r => r.FromRole != r.ToRole)
            .Select(r => $"{r.FromType} (role {r.FromRole}) uses {r.ToType} (role {r.ToRole})")
            .Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToArray();
        Assert.True(crossings.Length == 0, "Roles reference each other:\n" + string.Join("\n", crossings));
    }

    [Fact]
    public void The_scan_sees_fields_constructor_calls_and_compiler_generated_types()
    {
        // SenderRole builds a MessageSettlement in its constructor and keeps it in a field: the scan must see the
        // field and the constructor call (a same-role reference, so allowed), or the test above proves nothing.
        var fromSender = References.Value.Where(r => r.FromType.StartsWith(typeof(SenderRole).FullName!, StringComparison.Ordinal)).ToArray();
        Assert.Contains(fromSender, r => r.ToType == typeof(MessageSettlement).FullName);
        // Async methods and lambdas compile to nested types (Cecil names them Outer/Inner): those count for the role too.
        Assert.Contains(fromSender, r => r.FromType.Contains('/', StringComparison.Ordinal) && r.ToRole == "Sender");
    }

    private sealed record RoleReference(string FromType, string FromRole, string ToType, string ToRole);

    private static IReadOnlyList<RoleReference> ReadReferences()
    {
        using var module = ModuleDefinition.ReadModule(typeof(SenderRole).Assembly.Location);
        var references = new List<RoleReference>();
        foreach (var type in module.GetTypes())
        {
            if (RoleOf(type) is not { } role)
            {
                continue;
            }
            foreach (var used in TypesUsedBy(type))
            {
                if (RoleOf(used) is { } usedRole)
                {
                    references.Add(new RoleReference(type.FullName, role, OuterMost(used).FullName, usedRole));
                }
            }
        }
        return references;
    }

    /// <summary>The role a type belongs to (nested and compiler-generated types: their outermost type's), or null.</summary>
    private static string? RoleOf(TypeReference type)
    {
        var ns = OuterMost(type).Namespace;
        if (!ns.StartsWith(RolesPrefix, StringComparison.Ordinal))
        {
            return null;
        }
        var rest = ns[RolesPrefix.Length..];
        var dot = rest.IndexOf('.', StringComparison.Ordinal);
        return dot < 0 ? rest : rest[..dot];
    }

    private static TypeReference OuterMost(TypeReference type)
    {
        while (type.DeclaringType is { } outer)
        {
            type = outer;
        }
        return type;
    }

    private static IEnumerable<TypeReference> TypesUsedBy(TypeDefinition type)
    {
        var direct = new List<TypeReference?> { type.BaseType };
        direct.AddRange(type.Interfaces.Select(i => i.InterfaceType));
        direct.AddRange(type.CustomAttributes.Select(a => a.AttributeType));
        direct.AddRange(type.Fields.Select(f => f.FieldType));
        direct.AddRange(type.Properties.Select(p => p.PropertyType));
        direct.AddRange(type.Events.Select(e => e.EventType));
        foreach (var method in type.Methods)
        {
            direct.Add(method.ReturnType);
            direct.AddRange(method.Parameters.Select(p => p.ParameterType));
            direct.AddRange(method.CustomAttributes.Select(a => a.AttributeType));
            if (!method.HasBody)
            {
                continue;
            }
            direct.AddRange(method.Body.Variables.Select(v => v.VariableType));
            foreach (var instruction in method.Body.Instructions)
            {
                direct.AddRange(OperandTypes(instruction));
            }
        }
        return direct.OfType<TypeReference>().SelectMany(Flatten);
    }

    private static IEnumerable<TypeReference> OperandTypes(Instruction instruction) => instruction.Operand switch
    {
        TypeReference t => [t],
        MethodReference m => [m.DeclaringType, m.ReturnType, .. m.Parameters.Select(p => p.ParameterType),
            .. (m as GenericInstanceMethod)?.GenericArguments ?? []],
        FieldReference f => [f.DeclaringType, f.FieldType],
        _ => [],
    };

    /// <summary>A type and the types it is made of (array elements, generic arguments, by-ref targets).</summary>
    private static IEnumerable<TypeReference> Flatten(TypeReference type)
    {
        yield return type;
        switch (type)
        {
            case GenericInstanceType generic:
                foreach (var argument in generic.GenericArguments.SelectMany(Flatten))
                {
                    yield return argument;
                }
                yield return generic.ElementType;
                break;
            case TypeSpecification specification:
                foreach (var inner in Flatten(specification.ElementType))
                {
                    yield return inner;
                }
                break;
        }
    }
}
